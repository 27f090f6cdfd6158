"""A method's resolved config and the cell identity it gives (:mod:`boltzbench.protocols`)."""

from dataclasses import dataclass

from boltzbench.protocols import build_method, neutral
from boltzbench.run.cells import Cell, resolve


@dataclass
class _Config:
    steps: int = 10
    new_option: str = neutral("old")


class _Method:
    Config = _Config

    def __init__(self, config: _Config) -> None:
        self.config = config


def test_a_neutral_field_at_its_default_is_left_out_of_the_identity():
    method, config = build_method(_Method, {})
    assert config == {"steps": 10} and method.config.new_option == "old"
    # named explicitly at its default: the same computation, the same identity
    assert build_method(_Method, {"new_option": "old"})[1] == {"steps": 10}
    # any other value enters the identity
    assert build_method(_Method, {"new_option": "new"})[1] == {"steps": 10, "new_option": "new"}


def test_a_neutral_field_keeps_a_cell_id_and_another_value_changes_it(monkeypatch):
    from boltzbench import registry

    monkeypatch.setitem(registry.METHODS._items, "_neutral_probe", _Method)
    base = dict(suite="t", target="banana", method="_neutral_probe", seed=0, budget=1000)
    plain = resolve(Cell(**base, params=()))
    same = resolve(Cell(**base, params=(("new_option", "old"),)))
    other = resolve(Cell(**base, params=(("new_option", "new"),)))
    assert plain.cell_id == same.cell_id != other.cell_id

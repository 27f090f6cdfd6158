import boltzbench

def broken(:
    pass

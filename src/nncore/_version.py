#: the installed version (PEP 440); the one place it is written
__version__ = "0.2.0.dev0"

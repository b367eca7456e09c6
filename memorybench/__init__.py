"""memorybench: how far back can a sequence model remember?

The package reads in one direction: ``cli -> config -> runner -> training -> store``;
``tasks`` make data, ``models`` make networks, ``report`` reads the store.
"""

__version__ = "0.1.0"

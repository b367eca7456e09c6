"""memorybench: how far back can a sequence model remember?

The package reads in one direction: ``cli -> sweep -> runner -> training -> store``;
``catalog`` names what exists, ``cells`` holds the unit of work and its result, ``tasks``
make data, ``models`` make networks, ``report`` reads the store.
"""

__version__ = "0.1.0"

"""Unit tests of the bench's pure helpers (the bench itself runs by `make bench`)."""

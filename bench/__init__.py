"""`python -m bench`: load tests of the game socket against real server processes (issue 6).

See bench/README.md for what is measured, how a step passes, and why the generator is built
the way it is.
"""

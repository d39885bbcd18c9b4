"""What the tests share and that is not a test: real servers (gunicorn, the CLI as a process), data made for
tests (hostile orders, wrong credentials, published snapshots, filled stores) and watchers.

Test modules import from here and from `conftest.py`'s fixtures, never from one another or from `bench/`.
"""

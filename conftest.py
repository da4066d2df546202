# Makes the repository root importable (`advgrad`, `stages`, `tests.fixtures`) however pytest is
# started: pytest puts the folder of a rootdir conftest.py on sys.path.

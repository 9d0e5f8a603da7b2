"""The person record and its status: the only code that reads or writes `people`."""

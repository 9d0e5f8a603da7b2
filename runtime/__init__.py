"""What a process opens to run: the context, the list of collections, the worker."""

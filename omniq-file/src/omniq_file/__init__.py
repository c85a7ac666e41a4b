"""OmniQ's file backend: tasks, results, events and schedules on local disks and object
stores, through fsspec."""

"""Generated from proto/cluster/v1 by gen_stubs.py: do not edit."""

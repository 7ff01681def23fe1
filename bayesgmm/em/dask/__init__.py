"""EM on Dask arrays: the same loop with a distributed E-step (imported only for a
Dask array)."""

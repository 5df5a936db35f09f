"""Measuring tools run on a GPU machine (measure_gpu.py) and the scripts that turn their output into data."""

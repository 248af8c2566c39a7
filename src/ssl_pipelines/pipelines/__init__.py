"""Kedro pipelines, one package per method; shared sub-pipelines in ``common``."""

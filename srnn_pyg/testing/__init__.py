"""Test helpers: random typed graphs, devices, and the slow loop-based reference S-RNN."""
from .fake import devices, fake_schema, fake_st_data
from .reference import reference_forecast, reference_forward

__all__ = ["fake_schema", "fake_st_data", "devices", "reference_forward", "reference_forecast"]

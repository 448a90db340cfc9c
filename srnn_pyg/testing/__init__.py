"""Test helpers: random typed graphs, devices, and the slow loop-based reference S-RNNs (the
improved variant's, and one written from the official code for ``variant="paper"``)."""
from .fake import devices, fake_schema, fake_st_data
from .paper_reference import paper_reference_forecast, paper_reference_forward
from .reference import reference_forecast, reference_forward

__all__ = ["fake_schema", "fake_st_data", "devices", "reference_forward", "reference_forecast",
           "paper_reference_forward", "paper_reference_forecast"]

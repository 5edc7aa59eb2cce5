"""The only package that imports SpiffWorkflow. Importing it applies the two process-wide
adjustments the engine relies on (see patches.py)."""
from . import patches  # noqa: F401

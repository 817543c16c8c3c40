"""Activities: every call to a partner system, one module per stage of the business."""

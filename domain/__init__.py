"""The models that cross process boundaries: the application, partner results, the status document."""

"""Tests of what is shipped to install the function: image, manifests and packages."""

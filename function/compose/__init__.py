"""Pure composition: from a parsed XR and Input to desired resources and XR status. No I/O."""

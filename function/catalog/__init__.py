"""The built-in add-on catalog: charts, versions, default values, order, and the GPU table."""

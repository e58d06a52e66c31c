"""Administrative units: loading the GSO list, and resolving the many ways people write unit names."""

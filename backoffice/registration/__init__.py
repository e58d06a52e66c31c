"""Organization self-registration: a public form creates a pending organization and its admin account;
a city admin or the district's inspector approves (activating both) or rejects."""

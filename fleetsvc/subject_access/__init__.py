"""UK GDPR for the people the service holds: subject access (Art. 15) and retention
(pseudonymising leavers six years on)."""

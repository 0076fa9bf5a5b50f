"""Forecasts for finance by UK financial year: refresh (when devices are due and what
replacing them costs) and recurring cost (airtime, licences, support), and their CSV and
XLSX renderings."""

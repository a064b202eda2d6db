"""A static HTML report of an output folder (``bmp-ray report``): stats in one streaming pass, PNG plots."""

from bmp_ray.report.page import write_report
from bmp_ray.report.stats import collect

__all__ = ["collect", "write_report"]

"""Product feeds the server serves for platforms that fetch them on their own schedule."""

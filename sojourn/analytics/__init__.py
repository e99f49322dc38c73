"""What marketers read: each journey's KPIs, its funnel, its experiments with their
statistics (scipy and statsmodels), for the API, the dashboard and the exports."""

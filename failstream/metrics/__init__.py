"""What every Failstream process shares to be scraped: its /metrics server and consumer lag."""

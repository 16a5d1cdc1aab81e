"""Call campaigns: who to call for a job, when, how often, and what happened."""

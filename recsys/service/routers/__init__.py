"""One router per concern: health, recommendations, events, users, admin."""

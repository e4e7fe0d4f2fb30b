"""Who answers pair questions: people behind a service, or an oracle from class labels."""

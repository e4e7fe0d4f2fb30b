"""The Label Studio bridge: rounds out as pairwise tasks, annotations back as pair labels."""

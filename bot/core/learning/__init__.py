"""Learning: quizzes, spaced-repetition review, study channels, and each person's progress."""

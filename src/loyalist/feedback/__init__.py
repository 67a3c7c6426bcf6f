"""Feedback: every free-text answer, complaint, review or social-media mention, analysed offline
(language, sentiment, reason tags with the words that triggered them) and stored for the themes
view and for training the char-n-gram model."""

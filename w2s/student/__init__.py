"""The strong student: SlowFast motion features and the LLaVA-OneVision pair model."""

"""Running a rendered stack: the one Docker path, images, lifecycle, health, status, traffic, pull, demo."""

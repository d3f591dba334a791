"""What the benches test with (plain numpy, every tier): the configuration catalogue, seeded
stimulus and parameters, pause patterns."""

"""Report compilers: tables and plots from stored cell records (never imports torch)."""

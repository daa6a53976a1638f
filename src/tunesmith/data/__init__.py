"""Reading the user's data, finding its columns, and splitting it without leaks."""

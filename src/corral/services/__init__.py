"""Use-cases. Each public function is one transaction in the store."""

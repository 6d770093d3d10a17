"""Library cards: numbers, the rotating card code and its replay memory, barcodes, the desk
check, the printed notice."""

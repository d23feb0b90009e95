"""cper: the information system of the Contrats de plan État-Région."""

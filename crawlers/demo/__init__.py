"""The bundled demo sites: a Russian WordPress site, a windows-1251 republisher, a news blog."""

"""Generic spiders that iterate the source list; none is specific to one outlet."""

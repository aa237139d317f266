"""`worldbuild expand`: grow a world where its tasks are. Related pages are found through a
Serper-shaped search backend, located in a CDX index (the shape of Common Crawl's index API),
fetched by byte range from the WARC files it names, and ingested as a new snapshot whose
manifest records its parent, the tasks and the sources used."""

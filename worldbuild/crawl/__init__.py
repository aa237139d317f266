"""`worldbuild crawl`: a polite Scrapy crawl that writes standard WARC (warcio), for users who
have no web archive yet. `warcfile.py` owns the WARC file, `spider.py` what to follow,
`recorder.py` the Scrapy hook that records every exchange, `runner.py` the settings and report."""

"""Unit tests of distributions.py, under the machine's own CPython:
python3 -m unittest"""

import os
import tempfile
import unittest

import distributions


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class Headers(unittest.TestCase):
    def test_fields_continuations_and_body(self):
        fields = distributions.parse_headers(
            "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n"
            "Summary: Python HTTP\n  for Humans.\nAuthor: Kenneth Reitz\n\n"
            "Name: not-a-header\n"
        )
        self.assertEqual(fields["name"], "requests")
        self.assertEqual(fields["summary"], "Python HTTP for Humans.")
        found = distributions.distribution(fields, "x", None)
        self.assertEqual((found.name, found.version, found.publisher), ("requests", "2.31.0", "Kenneth Reitz"))

    def test_missing_version_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "no Version field"):
            distributions.distribution(distributions.parse_headers("Name: a\n"), "x", None)

    def test_a_line_without_colon_is_an_error(self):
        with self.assertRaises(ValueError):
            distributions.parse_headers("Name: a\nthis is not a header\n")


class Folders(unittest.TestCase):
    def test_dist_info_egg_info_and_a_broken_one(self):
        with tempfile.TemporaryDirectory() as root:
            site = os.path.join(root, "site-packages")
            write(os.path.join(site, "six-1.16.0.dist-info/METADATA"), "Name: six\nVersion: 1.16.0\n")
            write(os.path.join(site, "chardet-5.1.0.egg-info/PKG-INFO"), "Name: chardet\nVersion: 5.1.0\n")
            write(os.path.join(site, "lone.egg-info"), "Name: lone\nVersion: 1\n")
            write(os.path.join(site, "broken-1.dist-info/METADATA"), "Name: broken\n")
            write(os.path.join(site, "six.py"), "")
            result = distributions.collect([site], explicit=True)
            found, warnings = result.found, result.warnings
            self.assertEqual(sorted((f.name, f.version) for f in found),
                             [("chardet", "5.1.0"), ("lone", "1"), ("six", "1.16.0")])
            self.assertEqual([(os.path.basename(os.path.dirname(w.subject)), w.message) for w in warnings],
                             [("broken-1.dist-info", "no Version field")])
            self.assertEqual((result.denied, result.unread, result.read), ([], [], 1))

    def test_the_first_folder_wins_and_missing_folders_warn_when_named(self):
        with tempfile.TemporaryDirectory() as root:
            first, second = os.path.join(root, "a"), os.path.join(root, "b")
            write(os.path.join(first, "pip-24.0.dist-info/METADATA"), "Name: pip\nVersion: 24.0\n")
            write(os.path.join(second, "pip-23.0.dist-info/METADATA"), "Name: pip\nVersion: 23.0\n")
            write(os.path.join(first, "zope.interface-6.dist-info/METADATA"), "Name: zope.interface\nVersion: 6\n")
            write(os.path.join(second, "zope_interface-5.dist-info/METADATA"), "Name: zope_interface\nVersion: 5\n")
            not_a_folder = os.path.join(root, "file")
            write(not_a_folder, "")
            folders = [first, second, os.path.join(root, "none"), not_a_folder]
            result = distributions.collect(folders, explicit=True)
            self.assertEqual([(f.name, f.version) for f in result.found], [("pip", "24.0"), ("zope.interface", "6")])
            self.assertEqual([w.message for w in result.warnings], ["no such folder", "Not a directory"])
            # Not listed for another reason: unknown, unlike the absent one.
            self.assertEqual((result.unread, result.read), ([not_a_folder], 2))


if __name__ == "__main__":
    unittest.main()

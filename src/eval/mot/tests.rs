use super::clear::max_weight_matching;
use super::*;

fn file(name: &str, text: &str) -> MotFile {
    MotFile::parse(name, text).unwrap()
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-12)
}

/// Two objects over three frames. Frame 2: object 2's prediction changes id (a switch).
/// Frame 3: object 2 is missed, a prediction far away is a false positive, and object 1's
/// prediction is 1 px off (IoU 90 / 110).
#[test]
fn a_hand_computed_sequence_has_one_switch_one_fp_one_fn() {
    let gt = file(
        "gt.txt",
        "1,1,0,0,10,10,1,1,1\n1,2,100,0,10,10,1,1,1\n\
         2,1,0,0,10,10,1,1,1\n2,2,100,0,10,10,1,1,1\n\
         3,1,0,0,10,10,1,1,1\n3,2,100,0,10,10,1,1,1\n\
         3,3,200,0,10,10,0,1,1\n",
    );
    let pred = file(
        "pred.txt",
        "1,10,0,0,10,10,1,-1,-1,-1\n1,20,100,0,10,10,0.9,-1,-1,-1\n\
         2,10,0,0,10,10,1,-1,-1,-1\n2,30,100,0,10,10,1,-1,-1,-1\n\
         \n  3, 10, 1, 0, 10, 10, 1, -1, -1, -1  \n3,40,500,500,10,10,1,-1,-1,-1\n",
    );
    let c = evaluate(&gt, &pred).unwrap();
    assert_eq!(
        (c.num_frames, c.num_objects, c.num_predictions),
        (3, 6, 6),
        "the conf-0 row is dropped"
    );
    assert_eq!(c.num_unique_objects, 2);
    assert_eq!((c.num_matches, c.num_switches), (4, 1));
    assert_eq!((c.num_false_positives, c.num_misses), (1, 1));
    assert!(close(c.mota(), 1.0 - 3.0 / 6.0));
    assert!(close(c.motp(), (1.0 - 90.0 / 110.0) / 5.0));
    // IDTP: (1, 10) in 3 frames + (2, 20) or (2, 30) in 1.
    assert_eq!(c.idtp, 4);
    assert!(close(c.idf1(), 8.0 / 12.0));
    assert!(close(c.idp(), 4.0 / 6.0) && close(c.idr(), 4.0 / 6.0));
    assert_eq!(
        (c.mostly_tracked, c.partially_tracked, c.mostly_lost),
        (1, 1, 0)
    );
    assert_eq!(c.num_fragmentations, 0);
}

#[test]
fn a_previous_pair_is_kept_over_a_closer_newcomer_and_a_return_is_a_switch() {
    // Frame 1: gt 1 matches pred 5. Frame 2: pred 6 fits better but 5 is still matchable,
    // so 1-5 stays. Frame 3: only 6: a switch. Frame 4: missed. Frame 5: back to 6 (no
    // switch: 6 was the last match) and one fragmentation.
    let gt = file(
        "gt.txt",
        "1,1,0,0,10,10,1\n2,1,0,0,10,10,1\n3,1,0,0,10,10,1\n4,1,0,0,10,10,1\n5,1,0,0,10,10,1\n",
    );
    let pred = file(
        "pred.txt",
        "1,5,0,0,10,10,1\n2,5,2,0,10,10,1\n2,6,0,0,10,10,1\n3,6,0,0,10,10,1\n5,6,0,0,10,10,1\n",
    );
    let c = evaluate(&gt, &pred).unwrap();
    assert_eq!((c.num_matches, c.num_switches), (3, 1));
    assert_eq!((c.num_misses, c.num_false_positives), (1, 1));
    assert_eq!(c.num_fragmentations, 1);
    assert_eq!(c.idtp, 3, "gt 1 with pred 6: frames 2, 3, 5");
}

#[test]
fn an_empty_prediction_file_misses_everything() {
    let gt = file(
        "gt.txt",
        "1,1,0,0,10,10,1\n2,1,0,0,10,10,1\n4,2,0,0,10,10,0\n",
    );
    let pred = file("pred.txt", "");
    let c = evaluate(&gt, &pred).unwrap();
    assert_eq!((c.num_objects, c.num_predictions, c.num_misses), (2, 0, 2));
    assert_eq!(
        c.num_frames, 3,
        "frame 4 holds only a dropped row, and still counts"
    );
    assert!(close(c.mota(), 0.0));
    assert_eq!(c.motp(), None);
    assert!(close(c.idf1(), 0.0) && close(c.idr(), 0.0));
    assert_eq!(c.idp(), None);
    assert_eq!(c.mostly_lost, 1);
    let j = c.to_json();
    assert!(j["motp"].is_null() && j["mota"] == 0.0, "{j}");
}

fn parse_err(text: &str) -> String {
    MotFile::parse("GT.txt", text).unwrap_err().to_string()
}

#[test]
fn parse_errors_name_the_file_line_and_problem() {
    let e = parse_err("1,1,0,0,10,10,1\n\n1,2,3,4\n");
    assert_eq!(
        e,
        "GT.txt line 3: expected at least 7 comma-separated numbers (frame,id,x,y,w,h,conf), found 4"
    );
    let e = parse_err("1,1,0,0,10,10,1\n2,1,abc,0,10,10,1\n");
    assert_eq!(
        e,
        "GT.txt line 2: field 3 (x) is `abc`, not a finite number"
    );
    assert!(
        parse_err("1.5,1,0,0,10,10,1")
            .contains("line 1: field 1 (frame) is 1.5, not a whole number")
    );
    assert!(parse_err("1,1,0,,10,10,1").contains("field 4 (y) is empty"));
    assert!(parse_err("1,1,0,0,nan,10,1").contains("field 5 (w) is `nan`"));
    // A byte-order mark, whitespace-separated lines, Windows line ends, whole-number floats and
    // extra columns are fine.
    let f = file(
        "GT.txt",
        "\u{feff}1 7 0 0 10 10 1\r\n2.0,7.0,0,0,10,10,1,extra,columns\r\n",
    );
    assert_eq!(f.boxes.len(), 2);
    assert_eq!(
        (f.boxes[1].frame, f.boxes[1].id, f.boxes[1].line),
        (2, 7, 2)
    );
}

#[test]
fn an_id_twice_in_one_frame_is_an_error_with_both_lines() {
    let gt = file(
        "GT.txt",
        "1,1,0,0,10,10,1\n2,1,0,0,10,10,1\n1,1,5,5,10,10,1\n",
    );
    let pred = file("pred.txt", "");
    let e = evaluate(&gt, &pred).unwrap_err().to_string();
    assert_eq!(
        e,
        "GT.txt line 3: id 1 appears twice in frame 1 (lines 1 and 3); each id may have one box per frame"
    );
}

/// The component-wise matching against every matching, on random small bipartite graphs.
#[test]
fn max_weight_matching_agrees_with_brute_force() {
    fn brute(w: &[Vec<u32>], row: usize, used: &mut Vec<bool>) -> u64 {
        if row == w.len() {
            return 0;
        }
        let mut best = brute(w, row + 1, used);
        for c in 0..used.len() {
            if !used[c] && w[row][c] > 0 {
                used[c] = true;
                best = best.max(u64::from(w[row][c]) + brute(w, row + 1, used));
                used[c] = false;
            }
        }
        best
    }
    let mut s = 12345u32;
    let mut rnd = |n: u32| {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (s >> 8) % n
    };
    for _ in 0..300 {
        let (ng, np) = (1 + rnd(6) as usize, 1 + rnd(6) as usize);
        let mut w = vec![vec![0u32; np]; ng];
        let mut edges = vec![];
        for (o, row) in w.iter_mut().enumerate() {
            for (h, x) in row.iter_mut().enumerate() {
                if rnd(3) == 0 {
                    *x = 1 + rnd(9);
                    edges.push((o as u32, h as u32, *x));
                }
            }
        }
        let want = brute(&w, 0, &mut vec![false; np]);
        assert_eq!(max_weight_matching(&edges, ng, np), want, "{w:?}");
    }
}

#[test]
fn overall_sums_counts_and_recomputes_ratios() {
    let a = MotCounts {
        num_objects: 10,
        num_predictions: 8,
        num_matches: 6,
        num_misses: 4,
        num_false_positives: 2,
        idtp: 5,
        distance_sum: 1.2,
        ..Default::default()
    };
    let b = MotCounts {
        num_objects: 0,
        num_predictions: 3,
        num_false_positives: 3,
        ..Default::default()
    };
    let mut o = a;
    o += b;
    assert_eq!(b.mota(), None);
    assert!(close(o.mota(), 1.0 - 9.0 / 10.0));
    assert!(close(o.motp(), 0.2));
    assert!(close(o.idf1(), 10.0 / 21.0));
    assert!(close(o.idp(), 5.0 / 11.0));
}
